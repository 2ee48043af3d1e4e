import uuid

from engine.core.ids import new_batch_run_id, uuid7


def test_uuid7_has_version_7_and_rfc_variant():
    value = uuid7()
    assert value.version == 7 and value.variant == uuid.RFC_4122


def test_batch_ids_sort_in_creation_order_even_within_a_millisecond():
    ids = [new_batch_run_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
