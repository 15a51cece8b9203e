"""The shared fixtures themselves work: a real broker round trip and both stores reachable."""

from ingest.kafka_io import ConsumerConfig, Sink, Source


def test_broker_roundtrip(tansu, kafka_topic, unique_name):
    sink = Sink(tansu.bootstrap)
    for i in range(20):
        sink.send(kafka_topic, f"m{i}".encode(), key=str(i).encode())
    sink.flush()
    sink.close()
    src = Source(ConsumerConfig(tansu.bootstrap, (kafka_topic,), unique_name("g")))
    got = []
    for _ in range(50):
        got += src.poll(200, 100)
        if len(got) >= 20:
            break
    src.close()
    assert sorted(r.value for r in got) == sorted(f"m{i}".encode() for i in range(20))


def test_store_url_fixture_connects(store_url):
    import sqlalchemy as sa

    eng = sa.create_engine(store_url)
    with eng.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
    eng.dispose()
