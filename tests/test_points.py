"""Loading a user's 2-D point set: what is accepted, and a clear error for each way a file can be wrong."""

import numpy as np
import pytest

from ganviz.core.points import MIN_POINTS, is_points_file, load_points, read_point_set, spread_problem

RNG = np.random.default_rng(0)
POINTS = RNG.normal(size=(40, 2))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_text(points, sep=",", header=None):
    lines = [header] if header else []
    lines += [f"{float(x)!r}{sep}{float(y)!r}" for x, y in points]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("sep", [",", " ", "\t", ", "])
def test_csv_with_any_separator(tmp_path, sep):
    out = load_points(write(tmp_path, "p.csv", csv_text(POINTS, sep)))
    assert out.dtype == np.float64 and out.shape == (40, 2)
    np.testing.assert_array_equal(out, POINTS)


def test_csv_header_comments_and_blank_lines_are_skipped(tmp_path):
    text = "# drawn by hand\n" + csv_text(POINTS, header="x,y") + "\n\n"
    np.testing.assert_array_equal(load_points(write(tmp_path, "p.csv", text)), POINTS)


def test_npy(tmp_path):
    path = tmp_path / "p.npy"
    np.save(path, POINTS.astype(np.float32))
    out = load_points(path)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, POINTS, rtol=1e-6)


def test_suffix_decides_what_is_a_file():
    assert is_points_file("a/b/C.CSV") and is_points_file("x.npy")
    assert not is_points_file("ring8") and not is_points_file("x.txt")


def error(path):
    with pytest.raises(ValueError) as err:
        load_points(path)
    return str(err.value)


def test_missing_file(tmp_path):
    msg = error(tmp_path / "nope.csv")
    assert "nope.csv" in msg and "no such file" in msg


def test_unsupported_extension(tmp_path):
    msg = error(write(tmp_path, "p.txt", csv_text(POINTS)))
    assert "p.txt" in msg and "unsupported" in msg


def test_wrong_number_of_columns(tmp_path):
    msg = error(write(tmp_path, "p.csv", "1,2\n3,4,5\n"))
    assert "p.csv" in msg and "line 2" in msg and "2 columns" in msg and "found 3" in msg


def test_non_numeric_cell(tmp_path):
    text = csv_text(POINTS[:5]) + "1.0,abc\n" + csv_text(POINTS[5:])
    msg = error(write(tmp_path, "p.csv", text))
    assert "line 6" in msg and "non-numeric" in msg


def test_a_second_header_like_row_is_an_error(tmp_path):
    msg = error(write(tmp_path, "p.csv", "x,y\nu,v\n" + csv_text(POINTS)))
    assert "line 2" in msg and "non-numeric" in msg


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_and_inf(tmp_path, bad):
    text = csv_text(POINTS[:3]) + f"{bad},1\n" + csv_text(POINTS[3:])
    msg = error(write(tmp_path, "p.csv", text))
    assert "point 4" in msg and "NaN or infinite" in msg


def test_too_few_points(tmp_path):
    msg = error(write(tmp_path, "p.csv", csv_text(POINTS[: MIN_POINTS - 1])))
    assert f"only {MIN_POINTS - 1} point" in msg and f"at least {MIN_POINTS}" in msg


def test_empty_csv(tmp_path):
    assert "only 0 point" in error(write(tmp_path, "p.csv", ""))


def test_npy_of_wrong_shape(tmp_path):
    path = tmp_path / "p.npy"
    np.save(path, np.zeros((20, 3)))
    assert "shape (N, 2)" in error(path) and "(20, 3)" in error(path)


def test_npy_not_numeric(tmp_path):
    path = tmp_path / "p.npy"
    np.save(path, np.array([["a", "b"]] * 20))
    assert "real numbers" in error(path)


def test_unreadable_npy(tmp_path):
    assert "not a readable NumPy array" in error(write(tmp_path, "p.npy", "1,2\n3,4\n"))


def test_binary_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xff\xfe\x00\x81" * 10)
    assert "not a text file" in error(path)


def test_a_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    assert "no such file" in error(tmp_path / "d.csv")


# --- robustness (shared/qa/robustness-cases.md 17-20 and the minor point-file items) -----------
def test_npy_header_declaring_a_huge_shape_is_refused_before_allocating(tmp_path):
    """Case 18: a 200-byte file declaring shape (1e11, 2) (1.5 TiB) must not reach np.load."""
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**11, 2)})
        f.write(b"\0" * 64)
    msg = error(path)
    assert "huge.npy" in msg and "100,000,000,000 points" in msg and "subsample" in msg


def test_truncated_npy_is_refused_before_allocating(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, POINTS)
    path.write_bytes(path.read_bytes()[:-16])
    assert "truncated" in error(path) and "40 points" in error(path)


def test_timedelta_npy_is_not_points(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.arange(40, dtype="timedelta64[s]").reshape(20, 2))
    assert "real numbers" in error(path) and "timedelta64" in error(path)


@pytest.mark.parametrize("cell", ["1_00", "٣", "0x10"])
def test_python_only_number_syntax_is_not_a_csv_number(tmp_path, cell):
    text = csv_text(POINTS[:5]) + f"{cell},2\n" + csv_text(POINTS[5:])
    msg = error(write(tmp_path, "p.csv", text))
    assert "line 6" in msg and "non-numeric" in msg


def test_underscored_first_row_is_data_not_a_header(tmp_path):
    msg = error(write(tmp_path, "p.csv", "1_00,2_00\n" + csv_text(POINTS)))
    assert "line 1" in msg and "non-numeric" in msg


@pytest.mark.parametrize("value", [1e39, 1e300, -3.5e38])
def test_coordinates_beyond_the_float32_range_are_refused(tmp_path, value):
    """Cases 17 and 19: 1e300 (ZeroDivisionError in the cell width) and 1e39 (float32 overflow)."""
    pts = POINTS.copy()
    pts[3] = (value, 1.0)
    path = tmp_path / "far.npy"
    np.save(path, pts)
    msg = error(path)
    assert "point 4" in msg and "float32" in msg and "rescale" in msg


def test_int64_points_near_the_int64_limit_are_read_but_have_no_spread(tmp_path):
    """Within float32's range, so read (training is standardised); but float64 rounds 4.6e18 + i to
    one value, so as a target each column is refused for having no spread, with the reason."""
    path = tmp_path / "big.npy"
    np.save(path, np.full((50, 2), 4_600_000_000_000_000_000, dtype=np.int64) + np.arange(100).reshape(50, 2))
    points = load_points(path)
    assert "column 1 (x1) has no spread" in spread_problem("big.npy", points)


def test_the_header_names_the_columns(tmp_path):
    assert read_point_set(write(tmp_path, "p.csv", csv_text(POINTS, header="eruptions,waiting"))).names == \
        ("eruptions", "waiting")
    assert read_point_set(write(tmp_path, "q.csv", csv_text(POINTS))).names is None
    one = read_point_set(write(tmp_path, "r.csv", "height\n" + "".join(f"{float(v)!r}\n" for v in POINTS[:, 0])), columns=1)
    assert one.names == ("height",) and one.points.shape == (40, 1)
