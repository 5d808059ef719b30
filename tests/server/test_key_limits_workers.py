"""`failsoft serve --workers 2` as an operator runs it: without Redis each worker enforces
half of a key's rpm, so the two together never admit more than the limit (though a key
whose requests land unevenly may be refused before it); with Redis the limit is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from failsoft.sim import SimServer
from tests.fleet.support import SHARED_REDIS, unique_prefix
from tests.helpers import request
from tests.services import require
from tests.test_cli import free_port
from tests.test_reload import serve, up

KEY = "workers-" + "a1" * 20
CONFIG = """
providers:
  o: {{dialect: openai, base_url: "{sim}/v1", api_key: "${{KEY}}"}}
models:
  m: [o/gpt-4o]
retry: {{max_attempts: 1}}
store: {{url: "memory://"}}
log: {{access: false}}
auth:
  keys:
    - {{name: w, key: "{key}", limits: {{rpm: 10}}}}
{state}
"""


def admitted(url: str, count: int) -> int:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {KEY}"}
    statuses = [
        request(url + "/v1/chat/completions", body=body, headers=auth).status for _ in range(count)
    ]
    assert set(statuses) <= {200, 429}
    return statuses.count(200)


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "redis"])
def test_two_workers_stay_within_one_rpm(tmp_path: Path, sim: SimServer, shared: bool) -> None:
    state = ""
    if shared:
        require("Redis", "127.0.0.1", 6379)
        state = f'state: {{url: "{SHARED_REDIS}", prefix: "{unique_prefix()}"}}'
    config = tmp_path / "failsoft.yaml"
    config.write_text(CONFIG.format(sim=sim.url, key=KEY, state=state))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(config, port, "--workers", "2") as proc:
        up(url, proc, config, workers=2)
        ok = admitted(url, 30)
    print(f"2 workers, rpm 10, {'Redis' if shared else 'no Redis'}: {ok} of 30 admitted")
    if shared:
        assert ok == 10
    else:
        assert 5 <= ok <= 10  # 5 each at most; fewer when one worker took most requests
