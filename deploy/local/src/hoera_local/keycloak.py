"""Keycloak from Maven Central's distribution: the staff's identity provider of the local stack.

Why Keycloak: it is what organisations of this size run themselves (or something that speaks the same
OpenID Connect), it is served by Maven Central as one zip (org.keycloak:keycloak-quarkus-dist) and runs
as a plain Java process like Kafka, and a realm, its client and its users are imported from JSON at
start. Each tenant is a realm of its own, as each organisation has its own provider in production: the
issuer says whose staff a token belongs to, so no token carries a tenant.

Every realm has the client `hoera-staff` (public, authorization code with PKCE S256 only, redirects to
any port on 127.0.0.1 or localhost), realm roles named as Hoera's, a group per team, and mappers that
put `roles`, `teams` and the audience `hoera` in the access token. The demo users of each tenant
(hoera_devkit.tokens) are its users, with one development password.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Final

from hoera_devkit.testing import TEST_TENANTS
from hoera_devkit.tokens import DEMO_TENANTS, DEMO_USERS, DemoUser
from hoera_kit.auth import Role

from hoera_local.config import KEYCLOAK_VERSION, LocalConfig

DIST_URL: Final = (
    "https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/{v}/keycloak-quarkus-dist-{v}.zip"
)
CLIENT_ID: Final = "hoera-staff"
DEMO_PASSWORD: Final = "hoera-demo"
"""Every demo user's password: a development stack's, printed by `make up`."""
STAFF_ROLES: Final = (Role.agent, Role.supervisor, Role.approver, Role.admin)
_CLAIM_IN_TOKENS: Final = {
    "access.token.claim": "true",
    "id.token.claim": "true",
    "userinfo.token.claim": "true",
}


def home(cfg: LocalConfig) -> Path:
    return cfg.cache_dir / f"keycloak-{KEYCLOAK_VERSION}"


def fetch(cfg: LocalConfig) -> Path:
    """Download and unpack the distribution into the cache outside the repository, once; the zip is
    checked against the SHA-1 Maven Central publishes beside it."""
    target = home(cfg)
    marker = target / ".complete"
    if marker.exists():
        build(target)
        return target
    url = DIST_URL.format(v=KEYCLOAK_VERSION)
    print(f"fetching Keycloak {KEYCLOAK_VERSION} from Maven Central into {target}", flush=True)
    cfg.cache_dir.mkdir(parents=True, exist_ok=True)
    archive = cfg.cache_dir / f"keycloak-{KEYCLOAK_VERSION}.zip.partial"
    with urllib.request.urlopen(url, timeout=60) as response, archive.open("wb") as out:
        shutil.copyfileobj(response, out)
    with urllib.request.urlopen(url + ".sha1", timeout=60) as response:
        expected = response.read().decode().split()[0].strip()
    digest = hashlib.sha1(archive.read_bytes()).hexdigest()
    if digest != expected:
        archive.unlink(missing_ok=True)
        raise SystemExit(f"Keycloak download does not match Maven Central's SHA-1 ({digest} != {expected})")
    unpacked = cfg.cache_dir / f"keycloak-{KEYCLOAK_VERSION}.partial"
    shutil.rmtree(unpacked, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked)
    archive.unlink()
    (inner,) = [p for p in unpacked.iterdir() if p.is_dir()]
    shutil.rmtree(target, ignore_errors=True)
    inner.rename(target)
    shutil.rmtree(unpacked, ignore_errors=True)
    for script in (target / "bin").glob("*.sh"):
        script.chmod(0o755)
    marker.write_text(KEYCLOAK_VERSION)
    build(target)
    return target


def java_home() -> str | None:
    """A Java of 21 or later where there is one (Keycloak 26's own; 17 still runs it), else None: the
    `java` on the PATH."""
    candidates = [os.environ.get("HOERA_KEYCLOAK_JAVA_HOME"), os.environ.get("JAVA_HOME")]
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += [str(p) for p in sorted(jvm.iterdir(), reverse=True)]
    for candidate in candidates:
        if candidate and _java_major(Path(candidate)) >= 21:
            return candidate
    return None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    java = java_home()
    if java is not None:
        env["JAVA_HOME"] = java
    # C1 only: a third less CPU at start on a small machine, and this Keycloak serves a handful of
    # people. The add-opens keeps a library of Keycloak's working on Java 25.
    env["JAVA_OPTS_APPEND"] = "-XX:TieredStopAtLevel=1 --add-opens=java.base/java.lang=ALL-UNNAMED"
    return env


def build(target: Path) -> None:
    """Keycloak's build step, once per distribution: the database kind is fixed at build time, and
    an optimized start skips this work (seconds instead of half a minute)."""
    marker = target / ".built"
    if marker.exists():
        return
    print("building Keycloak for the local stack (once)", flush=True)
    subprocess.run([str(target / "bin" / "kc.sh"), "build", "--db=dev-file"], check=True, env=_env())
    marker.write_text(KEYCLOAK_VERSION)


def _java_major(path: Path) -> int:
    release = path / "release"
    if not release.is_file():
        return 0
    for line in release.read_text(errors="replace").splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip().strip('"')
            head = version.split(".")[0]
            return int(head) if head.isdigit() else 0
    return 0


def issuer(cfg: LocalConfig, tenant: str) -> str:
    return f"http://127.0.0.1:{cfg.keycloak_port}/realms/{tenant}"


def providers_setting(cfg: LocalConfig, tenants: list[str]) -> str:
    """HOERA_OIDC_PROVIDERS for the services: each tenant's realm. Keycloak puts the username in
    `preferred_username`; the organisation knows its people by that id."""
    return json.dumps(
        {
            tenant: {
                "issuer": issuer(cfg, tenant),
                "client_id": CLIENT_ID,
                "subject_claim": "preferred_username",
            }
            for tenant in tenants
        }
    )


def _mapper(name: str, kind: str, config: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "protocol": "openid-connect", "protocolMapper": kind, "config": config}


def _user(person: DemoUser, tenant: str) -> dict[str, Any]:
    first, _, last = (person.name or person.subject).partition(" ")
    return {
        "username": person.subject,
        "enabled": True,
        "email": f"{person.subject}@{tenant}.hoera.test",
        "emailVerified": True,
        "firstName": first,
        "lastName": last or first,
        "attributes": {"locale": [person.language or "en"]},
        "credentials": [{"type": "password", "value": DEMO_PASSWORD, "temporary": False}],
        "requiredActions": [],
        "realmRoles": [str(role) for role in person.roles],
        "groups": [f"/{team}" for team in person.teams],
    }


def realm(tenant: str, people: tuple[DemoUser, ...], language: str) -> dict[str, Any]:
    """One tenant's realm: its staff (not its platform, which signs in with a key, not a person's
    password), their roles and teams, and the client the five services sign in with."""
    staff = [p for p in people if not set(p.roles) <= {Role.platform}]
    teams = sorted({team for person in staff for team in person.teams})
    return {
        "realm": tenant,
        "displayName": tenant.title(),
        "enabled": True,
        "sslRequired": "none",  # plain http on 127.0.0.1: a development stack
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "internationalizationEnabled": True,
        "supportedLocales": ["nl", "fr", "en"],
        "defaultLocale": language,
        # A session's cookie holds the access token: it lasts a working session here; the provider's
        # own session (SSO) lets an expired one be renewed without a password.
        "accessTokenLifespan": 3600,
        "ssoSessionIdleTimeout": 28800,
        "ssoSessionMaxLifespan": 36000,
        "defaultRole": {"name": f"default-roles-{tenant}", "composite": False, "clientRole": False},
        "roles": {"realm": [{"name": str(role)} for role in STAFF_ROLES]},
        "groups": [{"name": team} for team in teams],
        "clients": [
            {
                "clientId": CLIENT_ID,
                "name": "Hoera staff pages",
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": True,
                "standardFlowEnabled": True,
                "implicitFlowEnabled": False,
                "directAccessGrantsEnabled": False,
                "serviceAccountsEnabled": False,
                "redirectUris": ["http://127.0.0.1:*", "http://localhost:*"],
                "webOrigins": [],
                "attributes": {
                    "pkce.code.challenge.method": "S256",
                    "post.logout.redirect.uris": "http://127.0.0.1:*##http://localhost:*",
                },
                # Only what the services read, so the token stays well inside one cookie.
                "defaultClientScopes": ["basic", "profile", "email"],
                "optionalClientScopes": [],
                "protocolMappers": [
                    _mapper(
                        "roles",
                        "oidc-usermodel-realm-role-mapper",
                        {
                            **_CLAIM_IN_TOKENS,
                            "claim.name": "roles",
                            "multivalued": "true",
                            "jsonType.label": "String",
                        },
                    ),
                    _mapper(
                        "teams",
                        "oidc-group-membership-mapper",
                        {**_CLAIM_IN_TOKENS, "claim.name": "teams", "full.path": "false"},
                    ),
                    _mapper(
                        "locale",
                        "oidc-usermodel-attribute-mapper",
                        {
                            **_CLAIM_IN_TOKENS,
                            "user.attribute": "locale",
                            "claim.name": "locale",
                            "jsonType.label": "String",
                        },
                    ),
                    _mapper(
                        "audience hoera",
                        "oidc-audience-mapper",
                        {
                            "included.custom.audience": "hoera",
                            "access.token.claim": "true",
                            "id.token.claim": "false",
                        },
                    ),
                ],
            }
        ],
        "users": [_user(person, tenant) for person in staff],
    }


def tenants_served() -> dict[str, tuple[str, tuple[DemoUser, ...]]]:
    """The demo's organisations and the tests' (demo, acme) with the demo users."""
    served = dict(DEMO_TENANTS)
    for tenant, language in zip(TEST_TENANTS, ("nl", "fr"), strict=True):
        served[tenant] = (language, DEMO_USERS)
    return served


def write_realms(cfg: LocalConfig) -> str:
    """The realms into Keycloak's import folder (it imports from its own data/import only); returns
    their digest, so a database holding older realms is started afresh (import skips a realm that
    exists)."""
    folder = home(cfg) / "data" / "import"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    digest = hashlib.sha256()
    for tenant, (language, people) in sorted(tenants_served().items()):
        text = json.dumps(realm(tenant, people, language), indent=1, sort_keys=True)
        (folder / f"{tenant}-realm.json").write_text(text)
        digest.update(text.encode())
    return digest.hexdigest()


def command(cfg: LocalConfig) -> tuple[list[str], dict[str, str]]:
    """An optimized start on this run folder's own database (realms imported when it is new)."""
    digest = write_realms(cfg)
    data = cfg.run_dir / "keycloak"
    stamp = data / "realms.sha256"
    if not stamp.exists() or stamp.read_text() != digest:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        stamp.write_text(digest)
    argv = [
        str(home(cfg) / "bin" / "kc.sh"),
        "start",
        "--optimized",
        "--cache=local",  # a start option: without it Keycloak forms a cluster on the network
        "--http-enabled=true",
        "--http-host=127.0.0.1",
        f"--http-port={cfg.keycloak_port}",
        f"--http-management-port={cfg.keycloak_port + 1}",
        f"--hostname=http://127.0.0.1:{cfg.keycloak_port}",
        f"--db-url=jdbc:h2:file:{data}/h2/keycloakdb;NON_KEYWORDS=VALUE",
        "--import-realm",
    ]
    env = {**_env(), "JAVA_OPTS_KC_HEAP": f"-Xms32m -Xmx{cfg.keycloak_heap}"}
    return argv, env


def run_foreground(cfg: LocalConfig) -> None:
    """Keycloak in the foreground (a Procfile line): fetched and built first."""
    fetch(cfg)
    argv, env = command(cfg)
    os.execvpe(argv[0], argv, env)
