"""eventsourcing persistence for DynamoDB: the only code that writes the Bids table,
and one implementation of every storage port of `ledger.persistence`.

Selected the library's usual way: PERSISTENCE_MODULE=ledger.dynamodb, with BIDS_TABLE
naming the table, boto3's AWS_ENDPOINT_URL_DYNAMODB pointing at DynamoDB Local when
set, and CREATE_TABLE=y creating the table as template.yaml declares it.

Single-table layout (docs/ARCHITECTURE.md, "The Bids table"), one module per port:
    LOT#{lot_id}  EVENT#{version:010d}  an event: topic, state (bytes); written once         events
    LOT#{lot_id}  SNAPSHOT              the lot's folded state; the only item updated       events, listings
    BID#{bid_id}  REQUEST               a bid as the API took it (PENDING); written once    bids
    BID#{bid_id}  RECEIPT               how a bid was decided; written once                 bids
    BID#{bid_id}  RETRACTION            an accepted bid's retraction; written once          bids
    BIDDER#{user} LOT#{lot_id}          a bidder's alias on a lot; written once             bidders
    BIDDER#{user} MYBID#{lot_id}        a bidder's record of a lot: from the stream         bidders
    PARKED#{id}   MESSAGE               a message that could not be parsed                  parking
    SALE#{sale_id} SALE                 a staggered sale: its terms and counts              sales
    SALE#{sale_id} REQUEST#{id}         a request of its lots: where its batch starts       sales
    SALE#{sale_id} BATCH#{first:04d}    a request's lots; `committed` is its commit marker  sales
    QUOTA#{user}  LOTS | LOT#{lot_id}   a user's quota record; written on its version       quotas
    REG#{id}      EVENT#… | STATE       a registration's (or standing's) events and state   registrations
    REG#{scope}   PADDLES               a sale's (or lone lot's) last paddle number         registrations
Receipts, retractions and aliases are written with the events that decided them, in one
transaction (`events`); the lists read sparse indexes over the snapshots (`listings`). The
keys and indexes are in `table`, the item encoding in `items`, the error mapping in
`errors`, what every part shares in `access`, and the recorder composed of the parts, with
the library's factory, in `recorder`.
"""

from ledger.dynamodb.items import from_item, to_item
from ledger.dynamodb.recorder import DynamoDBRecorder, Factory
from ledger.dynamodb.table import CLIENT_CONFIG, bids_table_definition, ensure_bids_table, event_key
from ledger.persistence import lot_key, sale_key

__all__ = [
    "CLIENT_CONFIG",
    "DynamoDBRecorder",
    "Factory",
    "bids_table_definition",
    "ensure_bids_table",
    "event_key",
    "from_item",
    "lot_key",
    "sale_key",
    "to_item",
]
