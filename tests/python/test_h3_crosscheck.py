"""H3 cells from datamin (h3o, Rust) against the reference implementation's Python binding
(`h3`, Uber's C library): the same cell index and centre for real positions from the shared
activity files, at several resolutions."""
import h3
import pytest

from conftest import datamin

RESOLUTIONS = [5, 8, 9, 12]


def positions(shared):
    """Distinct positions of a few real tracks (degrees)."""
    p = datamin("sql", "-i", shared / "tcx", "--format", "csv",
                "SELECT DISTINCT position_lat, position_long FROM raw.records "
                "WHERE position_lat IS NOT NULL ORDER BY 1, 2 LIMIT 300")
    rows = [line.split(",") for line in p.stdout.strip().splitlines()[1:]]
    return [(float(a), float(b)) for a, b in rows]


@pytest.mark.parametrize("res", RESOLUTIONS)
def test_cells_and_centres_match_the_reference(shared, tmp_path, res):
    pts = positions(shared)
    assert len(pts) >= 100
    values = ", ".join(f"({a!r}, {b!r})" for a, b in pts)
    p = datamin("sql", "--format", "csv",
                f"SELECT h3_cell(column1, column2, {res}) AS c, "
                f"h3_cell_center(column1, column2, {res})['lat'] AS la, "
                f"h3_cell_center(column1, column2, {res})['long'] AS lo "
                f"FROM (VALUES {values})")
    assert p.returncode == 0, p.stderr
    rows = [line.split(",") for line in p.stdout.strip().splitlines()[1:]]
    assert len(rows) == len(pts)
    for (lat, lng), (cell, la, lo) in zip(pts, rows):
        ref = h3.latlng_to_cell(lat, lng, res)
        assert cell == ref, (lat, lng, res)
        rla, rlo = h3.cell_to_latlng(ref)
        assert abs(float(la) - rla) < 1e-9 and abs(float(lo) - rlo) < 1e-9, (cell, la, lo, rla, rlo)
