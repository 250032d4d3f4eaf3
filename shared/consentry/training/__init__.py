"""The training side: snapshots (manifests of eligible versions), their verification, their queries."""
