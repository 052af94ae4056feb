import asyncio, time, uuid, tempfile
from pathlib import Path
import asyncpg, httpx
from aiokafka import AIOKafkaProducer
from hoera_kit.smtp_sink import MailStore, SmtpSink
from hoera_kit.testing import ServiceProcess
from bench.service_alerts import _answer, _publish_paced, _skip_history, TOPIC, _wait_for
from bench.common import pg_dsn, bootstrap
from hoera_alerts.domain import unhappy_alert_id
async def main():
    db = f"diag_{uuid.uuid4().hex[:6]}"
    a = await asyncpg.connect(pg_dsn()); await a.execute(f'create database "{db}"'); await a.close()
    folder = Path(tempfile.mkdtemp())
    sink = SmtpSink("127.0.0.1", 0, MailStore(folder/"mail")); await sink.up()
    p = AIOKafkaProducer(bootstrap_servers=bootstrap()); await p.start()
    g = f"diag-{uuid.uuid4().hex[:6]}"
    await _skip_history(g, {"feedback": [TOPIC, "hoera.survey.invited.v1", "hoera.contact.closed.v1"], "complaints": ["hoera.complaint.raised.v1","hoera.complaint.sla_breached.v1","hoera.complaint.resolved.v1","hoera.complaint.closed.v1","hoera.customer.flagged_for_review.v1"]})
    s = ServiceProcess("hoera_alerts", env={"HOERA_DATABASE_URL": pg_dsn(db), "HOERA_SMTP_PORT": str(sink.port)}, group_prefix=g, log_dir=folder).start()
    await s.wait_ready()
    answers = [_answer() for _ in range(400)]
    t0 = time.time()
    await _publish_paced(p, answers)
    print("published in", time.time()-t0)
    got = await _wait_for(sink.store, {f"alert:{unhappy_alert_id('demo', x.survey_id)}:sup-sara" for x in answers}, 120)
    print("all mails after", time.time()-t0, len(got))
    c = await asyncpg.connect(pg_dsn(db))
    r = await c.fetchrow("select min(created_at) c0, max(created_at) c1, min(sent_at) s0, max(sent_at) s1, avg(extract(epoch from sent_at-created_at)) lag, max(attempts) att from kit_deliveries")
    print(dict(r)); await c.close()
    m = httpx.get(s.url + "/metrics").text
    print("\n".join(l for l in m.splitlines() if ("handler_seconds_sum" in l or "handler_seconds_count" in l) ))
    s.stop(); await p.stop(); await sink.down()
    a = await asyncpg.connect(pg_dsn()); await a.execute(f'drop database "{db}" with (force)'); await a.close()
asyncio.run(main())
