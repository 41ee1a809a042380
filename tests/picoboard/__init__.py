"""A reference Pico 2 W board for tests: the boot ROM's A/B partitions with "try before
you buy", and a client that updates its firmware from the hub as pico-examples'
``pico_w/wifi/ota_update`` flow does, checking everything a board must check."""
