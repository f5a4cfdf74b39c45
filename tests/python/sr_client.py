"""confluent-kafka's SchemaRegistryClient (and its Avro serializer) against Runnel's registry.

Usage: sr_client.py REGISTRY_URL SUBJECT_PREFIX

Registers a schema, fetches it by id, reads the latest version, evolves it with a compatible
change (a new field with a default), is refused an incompatible one (409), sets and reads the
compatibility level, and round-trips a record through AvroSerializer/AvroDeserializer (the
Confluent wire format: magic byte 0, the schema id, Avro binary). Prints a JSON summary; exits
non-zero with a readable message on the first failed check.
"""

import json
import struct
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

URL, PREFIX = sys.argv[1], sys.argv[2]
SUBJECT = f"{PREFIX}-value"

V1 = {"type": "record", "name": "User", "namespace": "runnel.test",
      "fields": [{"name": "id", "type": "long"}]}
V2 = {"type": "record", "name": "User", "namespace": "runnel.test",
      "fields": [{"name": "id", "type": "long"},
                 {"name": "email", "type": "string", "default": ""}]}
# A new field without a default: a reader with it cannot read V2's data (BACKWARD).
BAD = {"type": "record", "name": "User", "namespace": "runnel.test",
       "fields": [{"name": "id", "type": "long"},
                  {"name": "email", "type": "string", "default": ""},
                  {"name": "age", "type": "int"}]}

summary = {}


def check(cond, what):
    if not cond:
        print(json.dumps(summary, default=str))
        sys.exit(f"check failed: {what}")


def avro(d):
    return Schema(json.dumps(d), "AVRO")


client = SchemaRegistryClient({"url": URL})

id1 = client.register_schema(SUBJECT, avro(V1))
summary["id1"] = id1
check(isinstance(id1, int) and id1 > 0, f"register returned id {id1!r}")

# A second client (no cache): the registry itself answers the same id.
fresh = SchemaRegistryClient({"url": URL})
check(fresh.register_schema(SUBJECT, avro(V1)) == id1, "registering the same schema again gives the same id")

by_id = fresh.get_schema(id1)
check(json.loads(by_id.schema_str) == V1, f"get_schema({id1}) returned {by_id.schema_str}")
check(by_id.schema_type in (None, "AVRO"), f"schema type {by_id.schema_type!r}")

latest = fresh.get_latest_version(SUBJECT)
check((latest.schema_id, latest.version) == (id1, 1), f"latest is {latest.schema_id}/{latest.version}")

check(fresh.test_compatibility(SUBJECT, avro(V2)), "V2 (a new field with a default) tests compatible")
check(not fresh.test_compatibility(SUBJECT, avro(BAD)), "BAD (a new field without a default) tests incompatible")
id2 = fresh.register_schema(SUBJECT, avro(V2))
summary["id2"] = id2
check(id2 != id1, "the evolved schema gets a new id")
latest = SchemaRegistryClient({"url": URL}).get_latest_version(SUBJECT)
check((latest.schema_id, latest.version) == (id2, 2), f"latest after evolving is {latest.schema_id}/{latest.version}")

try:
    fresh.register_schema(SUBJECT, avro(BAD))
    check(False, "an incompatible schema was accepted")
except SchemaRegistryError as e:
    summary["incompatible"] = {"status": e.http_status_code, "code": e.error_code, "message": e.error_message}
    check(e.http_status_code == 409, f"incompatible schema answered {e.http_status_code}: {e}")
check(fresh.get_versions(SUBJECT) == [1, 2], f"versions are {fresh.get_versions(SUBJECT)}")

check(fresh.get_compatibility() == "BACKWARD", "the global level defaults to BACKWARD")
fresh.set_compatibility(subject_name=SUBJECT, level="FULL")
check(fresh.get_compatibility(SUBJECT) == "FULL", "the subject level reads back FULL")
fresh.set_compatibility(level="FORWARD")
check(fresh.get_compatibility() == "FORWARD", "the global level reads back FORWARD")
fresh.set_compatibility(level="BACKWARD")

looked_up = fresh.lookup_schema(SUBJECT, avro(V1))
check((looked_up.schema_id, looked_up.version) == (id1, 1), "lookup finds V1 as version 1")
check(SUBJECT in fresh.get_subjects(), "the subject is listed")

# The serializer and deserializer in Confluent's wire format, through the registry.
ctx = SerializationContext(f"{PREFIX}", MessageField.VALUE)
# A new client: `fresh` cached the latest version as it was before V2.
serializer = AvroSerializer(SchemaRegistryClient({"url": URL}), json.dumps(V2),
                            conf={"auto.register.schemas": False, "use.latest.version": True})
payload = serializer({"id": 42, "email": "a@b.c"}, ctx)
magic, schema_id = struct.unpack(">bI", payload[:5])
summary["wire"] = {"magic": magic, "id": schema_id, "bytes": len(payload)}
check((magic, schema_id) == (0, id2), f"wire header is {magic}/{schema_id}")
record = AvroDeserializer(SchemaRegistryClient({"url": URL}))(payload, ctx)
check(record == {"id": 42, "email": "a@b.c"}, f"deserialized {record}")

# Soft delete through the client.
check(fresh.delete_version(SUBJECT, 2) == 2, "deleting version 2")
check(fresh.get_versions(SUBJECT) == [1], "version 2 is gone from the list")

summary["ok"] = True
print(json.dumps(summary, default=str))
