"""Message sizes, set end to end so that nothing a producer may send becomes unreadable or unpublishable.

- Topics are created with `max.message.bytes` = MAX_MESSAGE_BYTES (the broker's own default, 1 MiB + 12).
- Our producer refuses a message over MAX_REQUEST_BYTES (1 MiB) before it reaches the broker; the
  relay parks such a row after a bounded number of attempts and goes on with the rows after it.
- Consumers fetch up to MAX_PARTITION_FETCH_BYTES per partition (2 MiB), above the topic limit, so the
  largest record any producer could have written is always fetched whole.
- A fetch response holds at most MAX_FETCH_BYTES (8 MiB; aiokafka's default is 50 MiB). The broker still
  returns a first record larger than that whole (KIP-74), so this bounds memory, not what can be read:
  records are parsed lazily from the response, which stays in memory until every partition in it is
  consumed, so during a catch-up several 50 MiB responses were alive at once (funding's RSS peaked at ~300 MiB).
- What we publish ourselves is bounded by the contracts (every text field has a max length) and a
  dead-letter event carries at most a 4 KiB excerpt of the refused value: far below the limit.
"""

MAX_MESSAGE_BYTES = 1_048_588
MAX_REQUEST_BYTES = 1_048_576
MAX_PARTITION_FETCH_BYTES = 2 * 1_048_576
MAX_FETCH_BYTES = 8 * 1_048_576
