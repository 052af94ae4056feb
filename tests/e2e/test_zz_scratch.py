import time
async def test_start(system):
    print("urls", {s: system.url(s) for s in ("intake","survey")})
