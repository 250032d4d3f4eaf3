-- Erasure requests of a ledger export: the user's partition key and the request time.
SELECT
  Item.pk.S AS pk,
  Item.requested_at.S AS requested_at
FROM ledger
WHERE Item.sk.S LIKE 'erasure#%'
