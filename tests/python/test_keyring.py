"""First use without a configured key: datamin creates a private keyring and reuses it."""
import os
import stat
import subprocess

import pyarrow.parquet as pq

from conftest import BIN, ROOT

POLICY = """
[tables.activities]
keep = ["activity_id", "serial_number"]
[[tables.activities.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
[[tables.activities.rules]]
rule = "encrypt"
columns = ["serial_number"]
"""


def run(*args, home):
    env = {k: v for k, v in os.environ.items() if k not in ("DATAMIN_KEY", "DATAMIN_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(home)
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, env=env)


def test_keyring_is_created_once_private_and_reused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    p1 = run("run", "-p", policy, "-i", ROOT / "testdata", "-o", tmp_path / "a", home=home)
    assert p1.returncode in (0, 1), p1.stderr
    ring = home / ".local" / "share" / "datamin" / "keyring.toml"
    assert ring.is_file()
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring.parent.stat().st_mode) == 0o700
    assert str(ring) in p1.stderr and "secret" in p1.stderr and "back it up" in p1.stderr
    text = ring.read_text()
    assert 'active = "local-' in text and "[keys]" in text

    # the second run reuses it silently and produces the same pseudonyms
    p2 = run("run", "-p", policy, "-i", ROOT / "testdata", "-o", tmp_path / "b", home=home)
    assert p2.returncode in (0, 1), p2.stderr
    assert "created" not in p2.stderr
    assert ring.read_text() == text
    a = pq.read_table(tmp_path / "a" / "activities" / "part-00000-00000.parquet").to_pydict()
    b = pq.read_table(tmp_path / "b" / "activities" / "part-00000-00000.parquet").to_pydict()
    assert a["activity_id"] == b["activity_id"]
    assert len(a["activity_id"][0]) == 64

    # decrypt finds the same keyring
    f = tmp_path / "a" / "activities" / "part-00000-00000.parquet"
    p3 = run("decrypt", f, "-o", tmp_path / "dec.parquet", "-c", "serial_number", home=home)
    assert p3.returncode == 0, p3.stderr
    assert "3945849289" in pq.read_table(tmp_path / "dec.parquet").to_pydict()["serial_number"]

    # DATAMIN_KEY still wins over the keyring
    env_home = dict(os.environ, HOME=str(home), DATAMIN_KEY="an-explicit-key-0123456789")
    p4 = subprocess.run([str(BIN), "run", "-p", str(policy), "-i", str(ROOT / "testdata"),
                         "-o", str(tmp_path / "c")], capture_output=True, text=True, env=env_home)
    assert p4.returncode in (0, 1), p4.stderr
    c = pq.read_table(tmp_path / "c" / "activities" / "part-00000-00000.parquet").to_pydict()
    assert c["activity_id"] != a["activity_id"]
