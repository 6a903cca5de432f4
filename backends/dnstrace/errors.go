package dnstrace

import (
	"errors"
	"strconv"
)

// ErrMalformed is matched (errors.Is) by every error Parse returns.
var ErrMalformed = errors.New("malformed dns message")

// ParseError says why and where Parse rejected a message. Its text reads
// "malformed dns message: compression pointer loop at offset 40 in
// authority record 1".
type ParseError struct {
	// Offset is the position in the message where the fault was found.
	Offset int
	// Reason is a short description of the fault.
	Reason string
	// Section is the part of the message the fault is in: SectionHeader,
	// SectionQuestion, SectionAnswer, SectionAuthority or
	// SectionAdditional. The sections before it were decoded whole.
	Section string
	// Index numbers the question or record of Section, from 1 (0 for the
	// header).
	Index int
}

// The sections of a message, as ParseError.Section names them.
const (
	SectionHeader     = "header"
	SectionQuestion   = "question"
	SectionAnswer     = "answer"
	SectionAuthority  = "authority"
	SectionAdditional = "additional"
)

func (e *ParseError) Error() string {
	return ErrMalformed.Error() + ": " + e.Detail()
}

// Detail is the error's text without the "malformed dns message" prefix:
// "compression pointer loop at offset 40 in authority record 1".
func (e *ParseError) Detail() string {
	s := e.Reason + " at offset " + strconv.Itoa(e.Offset)
	switch e.Section {
	case "":
	case SectionHeader:
		s += " in the header"
	case SectionQuestion, SectionAnswer:
		s += " in " + e.Section + " " + strconv.Itoa(e.Index)
	default:
		s += " in " + e.Section + " record " + strconv.Itoa(e.Index)
	}
	return s
}

// in says that err, a *ParseError, is about record i of section sec.
func in(err error, sec string, i int) error {
	if pe, ok := err.(*ParseError); ok && pe.Section == "" {
		pe.Section, pe.Index = sec, i
	}
	return err
}

// Unwrap returns ErrMalformed.
func (e *ParseError) Unwrap() error { return ErrMalformed }

func malformed(off int, reason string) error {
	return &ParseError{Offset: off, Reason: reason}
}
