"""Message sizes, set end to end so that nothing a producer may send becomes unreadable or unpublishable.

- Topics are created with `max.message.bytes` = MAX_MESSAGE_BYTES (the broker's own default, 1 MiB + 12).
- Our producer refuses a message over MAX_REQUEST_BYTES (1 MiB) before it reaches the broker; the
  relay parks such a row after a bounded number of attempts and goes on with the rows after it.
- Consumers fetch up to MAX_PARTITION_FETCH_BYTES per partition (2 MiB), above the topic limit, so the
  largest record any producer could have written is always fetched whole.
- What we publish ourselves is bounded by the contracts (every text field has a max length) and a
  dead-letter event carries at most a 4 KiB excerpt of the refused value: far below the limit.
"""

MAX_MESSAGE_BYTES = 1_048_588
MAX_REQUEST_BYTES = 1_048_576
MAX_PARTITION_FETCH_BYTES = 2 * 1_048_576
