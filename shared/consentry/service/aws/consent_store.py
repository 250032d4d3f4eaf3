"""The consent table (owned by the account service): read-only, strongly consistent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from consentry.service.aws.dynamo import batch_get, from_item, to_item
from consentry.service.observability import count, logger
from consentry.service.policy import ConsentRecord, Policy, parse_consent
from consentry.service.pseudonyms import Pseudonyms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ConsentStore:
    def __init__(self, client: DynamoDBClient, table: str, policy: Policy, names: Pseudonyms) -> None:
        self.client = client
        self.table = table
        self.policy = policy
        self.names = names

    def get(self, user_id: str) -> ConsentRecord:
        response = self.client.get_item(TableName=self.table, Key=to_item({"user_id": user_id}), ConsistentRead=True)
        item = response.get("Item")
        return self._checked(parse_consent(from_item(item) if item else None, self.policy, user_id))

    def get_many(self, user_ids: Iterable[str]) -> dict[str, ConsentRecord]:
        """One BatchGetItem per 100 users; users without a record come back pending."""
        unique = list(dict.fromkeys(user_ids))
        records = {uid: parse_consent(None, self.policy, uid) for uid in unique}
        for item in batch_get(self.client, self.table, [to_item({"user_id": uid}) for uid in unique]):
            values = from_item(item)
            records[values["user_id"]] = self._checked(parse_consent(values, self.policy, values["user_id"]))
        return records

    def _checked(self, record: ConsentRecord) -> ConsentRecord:
        """Say so when a record fails closed for being invalid: the account service has a bug to fix."""
        if record.exists and record.problem:
            logger.warning(
                "invalid consent record: its chats fail closed",
                extra={"user_hash": self.names.user(record.user_id), "problem": record.problem},
            )
            count("InvalidConsentRecords")
        return record
