package ctfill

import "time"

func deadlineNow() time.Time { return time.Now() }
func noDeadline() time.Time  { return time.Time{} }
