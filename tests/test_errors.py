from spikemesh.errors import GraphError, SpikemeshError


def test_message_names_node_needed_available_and_hint():
    err = GraphError("too many axons", node="conv1", needed=300, available=256, hint="split by input channels")
    assert isinstance(err, SpikemeshError)
    assert str(err) == "conv1: too many axons (needed 300, available 256); hint: split by input channels"
    assert "\n" not in str(GraphError("a\nb"))
