"""Table 1: our counts against the authors' code and the paper."""

from tdlib.nets.params import CODE_TABLE1, PAPER_TABLE1, format_table1, table1


def test_all_sixteen_counts_equal_the_original_code():
    df = table1()
    assert len(df) == 16
    assert df.ours_eq_code.all(), df[~df.ours_eq_code]


def test_paper_differs_from_code_in_five_cells_and_the_implied_variants_match():
    df = table1()
    diff = df[~df.paper_eq_code]
    assert sorted(zip(diff.registry, diff.variant, strict=True)) == [
        ("lenetfc", "BU"), ("nin", "TD"), ("nin", "TDuni"), ("nin_light", "TD"), ("nin_light", "TDuni")]
    assert (diff.paper_variant.astype(int) == diff.paper).all()
    assert df[df.paper_eq_code].paper_variant.isna().all()


def test_reference_tables_are_the_published_numbers():
    assert PAPER_TABLE1["lenetfc"][0] == 8_790 and CODE_TABLE1["lenetfc"][0] == 7_670
    assert PAPER_TABLE1["resnet32"] == CODE_TABLE1["resnet32"]  # the only row where paper and code agree fully


def test_format_names_the_verdict():
    text = format_table1(table1())
    assert "16 of 16 counts equal the original code's." in text
    assert "match the paper in 5 of them" in text
