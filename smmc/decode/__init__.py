"""`smmc decode`: decode a meter status word, a CSW, an event code or a work-order error at a terminal."""
