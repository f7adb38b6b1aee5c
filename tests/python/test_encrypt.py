"""Encryption end to end: `encrypt` rule in a policy, then `datamin decrypt` by the key holder."""
import pyarrow.parquet as pq

from conftest import ROOT, datamin

POLICY = """
[tables.activities]
keep = ["activity_id", "serial_number", "product"]
[[tables.activities.rules]]
rule = "encrypt"
columns = ["serial_number"]
[[tables.activities.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
"""


def test_encrypted_serials_are_recovered_only_with_the_key(tmp_path):
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"
    datamin("run", "--policy", policy, "--input", ROOT / "testdata", "--output", out)
    f = out / "activities" / "part-00000-00000.parquet"
    t = pq.read_table(f).to_pydict()
    assert all(s is None or s.startswith("dm1:") for s in t["serial_number"])
    assert "3945849289" not in str(t)  # fenix 5 serial (fitdecode) is not in the clear
    dec = tmp_path / "dec.parquet"
    p = datamin("decrypt", f, "--output", dec, "--columns", "serial_number")
    assert p.returncode == 0, p.stderr
    d = pq.read_table(dec).to_pydict()
    assert "3945849289" in d["serial_number"]
    assert d["product"] == t["product"] and d["activity_id"] == t["activity_id"]
    assert pq.ParquetFile(dec).metadata.metadata[b"datamin.key_id"]
    # a wrong key fails loudly
    p = datamin("decrypt", f, "--output", tmp_path / "x.parquet", "--columns", "serial_number",
                env={"DATAMIN_KEY": "a-completely-different-key"}, check=False)
    assert p.returncode == 2 and "authentication failed" in p.stderr


def test_key_rotation_with_a_keyring(tmp_path):
    """Runs use the keyring's active key and record its id; after rotating, old files still
    decrypt (the key is chosen by the file's datamin.key_id) and pseudonyms change."""
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    ring = tmp_path / "keyring.toml"

    def write_ring(active):
        ring.write_text(f'active = "{active}"\n[keys]\n'
                        '"2026-05" = "old-secret-0123456789"\n"2026-11" = "new-secret-0123456789"\n')

    outputs = {}
    for active in ("2026-05", "2026-11"):
        write_ring(active)
        out = tmp_path / active
        datamin("run", "--policy", policy, "--input", ROOT / "testdata", "--output", out,
                "--key-file", ring)
        f = out / "activities" / "part-00000-00000.parquet"
        assert pq.ParquetFile(f).metadata.metadata[b"datamin.key_id"] == active.encode()
        outputs[active] = f
    old, new = (pq.read_table(outputs[k]).to_pydict() for k in ("2026-05", "2026-11"))
    assert set(old["activity_id"]).isdisjoint(new["activity_id"])  # unlinkable across periods
    # the keyring now has 2026-11 active; the 2026-05 file still decrypts
    dec = tmp_path / "dec.parquet"
    p = datamin("decrypt", outputs["2026-05"], "--output", dec, "--columns", "serial_number",
                "--key-file", ring)
    assert p.returncode == 0, p.stderr
    assert "3945849289" in pq.read_table(dec).to_pydict()["serial_number"]
