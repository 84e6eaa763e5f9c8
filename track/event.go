package track

import "time"

// EventType is a ctnetlink event's kind.
type EventType uint8

// Event kinds as conntrack -E prints them.
const (
	EventNew EventType = iota + 1
	EventUpdate
	EventDestroy
)

func (e EventType) String() string {
	switch e {
	case EventNew:
		return "NEW"
	case EventUpdate:
		return "UPDATE"
	case EventDestroy:
		return "DESTROY"
	}
	return "UNKNOWN"
}

// ParseEventType accepts "NEW", "UPDATE" and "DESTROY".
func ParseEventType(s string) (EventType, bool) {
	switch s {
	case "NEW":
		return EventNew, true
	case "UPDATE":
		return EventUpdate, true
	case "DESTROY":
		return EventDestroy, true
	}
	return 0, false
}

// Event is one conntrack event: the entry as the kernel reported it at that
// moment (an event carries only the attributes that changed plus the tuples).
type Event struct {
	Type EventType
	// Time is when the event happened; zero when the source had no
	// timestamp (conntrack -E without -o timestamp).
	Time time.Time
	Flow Flow

	// Userspace is set when a netlink request from a process caused the event
	// (conntrack -D, a daemon): conntrack -E then prints
	// "[USERSPACE] portid=N progname=NAME".
	Userspace bool
	PortID    uint32
	Progname  string
}
