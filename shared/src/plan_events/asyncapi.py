"""The AsyncAPI document of every topic, generated from the contracts.

`python -m plan_events.asyncapi > docs/asyncapi.json` (a unit test keeps the file current).
"""

import json
from typing import Any

from plan_events.catalogue import EVENTS


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for model in EVENTS:
        name = model.__name__
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
        messages[name] = {
            "name": name,
            "title": model.topic,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": {"type": "object"},
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": "the event's subject (pseudonymous id)"}}},
        }
        channels[model.topic] = {
            "address": model.topic,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Live-commerce talent plan events",
            "version": "1",
            "description": "One topic per event type; key = subject; body = envelope + payload.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
