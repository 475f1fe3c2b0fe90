from vsat_tests.test_retention_and_privacy import PersonalValues, generator_handoffs, phones_in  # noqa
def test_scanner_finds_things(generator_handoffs, tmp_path):
    for s in ["07700900123", "07700 900123", "+447700900123", "+44 (0)7700 900 123", "0044 7700 900123", "(07700) 900123", "447700900123", "tel:07700-900-123."]:
        assert "7700900123" in phones_in(s), s
    for s in ["077009001", "S0606f5283725acf54dc03c2bc7cb2446"]:
        assert "7700900123" not in phones_in(s), s
    with generator_handoffs["warehouse"].get_connection() as conn:
        v = PersonalValues(conn)
        raw = conn.execute("select * from raw.reports").fetchall()
        rawp = conn.execute("select victim_phone from raw.reports").fetchall()
    text = (tmp_path / "outbox" / "handoff_2025-04.csv").read_text()
    print(v.found_in(text).keys(), v.found_in_table(raw).keys())
    print(v.found_in(str(raw)).keys(), v.found_in(str(rawp)))
