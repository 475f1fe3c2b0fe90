import time
HANDOFF_SEL = ["offence_catalogue", "raw_reports", "stg_reports", "victim_eligibility", "eligible_victims",
               "sampling_frame", "sampled_cohort", "contractor_handoff"]
def test_probe(resources, materialize_vsat, tmp_path, warehouse_rows, run_log_text):
    t = time.time()
    r = materialize_vsat(resources, partition="2025-04-01", selection=HANDOFF_SEL)
    print("first", time.time() - t, r.success)
    t = time.time()
    r = materialize_vsat(resources, partition="2025-04-01", selection=HANDOFF_SEL)
    print("second", time.time() - t, r.success)
    print(sorted(p.name for p in (tmp_path / "outbox").iterdir()))
    print((tmp_path / "outbox" / "handoff_2025-04.csv").read_text()[:600])
    print(warehouse_rows(resources["warehouse"], "select count(*) from intermediate.sampled_cohort"))
    print(warehouse_rows(resources["warehouse"], "select * from ops.handoff_log"))
    print(warehouse_rows(resources["warehouse"], "select count(*) from raw.reports"))
    t = time.time()
    r = materialize_vsat(resources, partition="2025-04-01", selection=["survey_responses"])
    print("resp", time.time() - t, r.success)
