package cfn

import "time"

// DefaultPutTimeout bounds one attempt to PUT the response. S3 answers a
// presigned PUT in well under a second; ten seconds rides out a slow
// connection without letting one hung attempt take the whole margin.
const DefaultPutTimeout = 10 * time.Second

// Budget splits the time an invocation has left between the handler and the
// response. Its fields add up to the time planned for: Work, then two PUT
// attempts with Backoff between them, then Reserve.
type Budget struct {
	// Work is the handler's share; its context ends after it.
	Work time.Duration
	// PutAttempt is the longest one response PUT may take.
	PutAttempt time.Duration
	// Backoff is the wait before the second PUT; later waits double it.
	Backoff time.Duration
	// Reserve is kept unused before the deadline: no PUT attempt runs into
	// it, so the function always returns before Lambda stops it.
	Reserve time.Duration
}

// Margin is the time kept back from the handler for the response: room for
// two full PUT attempts, the wait between them, and the reserve. So a first
// PUT that hangs until its timeout always leaves a full second attempt,
// however late the handler finished.
func (b Budget) Margin() time.Duration { return 2*b.PutAttempt + b.Backoff + b.Reserve }

// Plan splits remaining between the handler and the response for PUT attempts
// of at most putAttempt. The backoff is 1/50 and the reserve 1/20 of the
// attempt timeout (200 ms and 500 ms for 10 s); when the resulting margin
// would exceed half of remaining, the attempt timeout (and with it backoff
// and reserve) shrinks so that the margin is half. A 120 s function thus
// gives the handler 99.3 s and keeps 20.7 s for the response.
func Plan(remaining, putAttempt time.Duration) Budget {
	remaining = max(remaining, 0)
	const parts = 2*1000 + 1000/50 + 1000/20 // the margin in thousandths of an attempt
	half := remaining / 2
	pa := min(max(putAttempt, 0), half/parts*1000+half%parts*1000/parts)
	b := Budget{PutAttempt: pa, Backoff: pa / 50, Reserve: pa / 20}
	b.Work = remaining - b.Margin()
	return b
}
