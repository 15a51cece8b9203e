"""Kafka ingest: the consumer service and its edges.

    contract   input contract: decode/validate one record (pure); JSON Schema in news.schema.json
    records    Kafka record <-> message <-> ScoredItem mapping, DLQ headers, offsets (pure)
    languages  language detection (py3langid) and the language -> model router
    kafka_io   the one seam to kafka-python (Source, Sink, ensure_topics); record- vs broker-side errors
    kafka_headers  kafka-python's batch reader made lenient about non-UTF-8 header keys
    publish    dead letters and scored copies out, bounded retries, isolation (cut-down copy, quarantine)
    quarantine the fsync'd JSON Lines file of records even the DLQ refused
    isolation  store writes isolated item by item (store_rejected); outages propagate
    service    the consumer loop (validate -> classify -> store -> monitor -> publish -> commit)
    app        composition root of `finsentry run`
    broker     the embedded Tansu broker
    produce    publish / replay news files; demo: `finsentry demo`; bench: run_e2e_bench()

Heavy modules (kafka, onnxruntime) are imported by the modules that need them, not here.
"""
