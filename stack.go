package lisa

// growStack grows a new goroutine's stack, in one copy made while it is
// still shallow, to a size that holds all of a Send. On linux/amd64 a
// goroutine starts with 2 KiB; without this, a Send from `go client.Send(…)`
// outgrows it twice, the second time deep in net/http, where a copy costs
// most. Its frame is below what the rest of a Send that reaches the network
// needs there (about 5 KiB), so it does not grow a stack that such a Send
// would not have grown; where goroutines start larger (Windows: 8 KiB), it
// costs only the clearing of its frame.
//
//go:noinline
func growStack() {
	var room [3 << 10]byte
	keepOnStack(&room)
}

// keepOnStack is a call the compiler cannot see through, so room is kept.
//
//go:noinline
func keepOnStack(*[3 << 10]byte) {}
