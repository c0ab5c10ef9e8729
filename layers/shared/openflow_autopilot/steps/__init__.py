"""What the functions call: one module per state machine, one function per Task state named as the
state (CheckOpenflow -> check_openflow), each parsing a typed input model for its state and calling
the domain with typed values. The domain never sees a raw event."""
