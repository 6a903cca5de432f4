package dnstrace

import (
	"errors"
	"strconv"
)

// ErrMalformed is matched (errors.Is) by every error Parse returns.
var ErrMalformed = errors.New("malformed dns message")

// ParseError says why and where Parse rejected a message. Its text reads
// "malformed dns message: compression pointer loop at offset 12".
type ParseError struct {
	// Offset is the position in the message where the fault was found.
	Offset int
	// Reason is a short description of the fault.
	Reason string
}

func (e *ParseError) Error() string {
	return ErrMalformed.Error() + ": " + e.Reason + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns ErrMalformed.
func (e *ParseError) Unwrap() error { return ErrMalformed }

func malformed(off int, reason string) error {
	return &ParseError{Offset: off, Reason: reason}
}
