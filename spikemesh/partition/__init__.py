"""Partition: split populations into network groups that fit the target's cores."""
