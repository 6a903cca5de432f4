// Package testscripts holds tracep's end-to-end scripts (*.txtar, in the
// format of github.com/rogpeppe/go-internal/testscript) and the runner that
// gives them tracep's commands and conditions.
//
// The scripts are written as a user would use tracep; README.md (generated
// from the tables in this package and checked by a test) lists every
// command and condition they may use. Run them with
//
//	go test ./testscripts
//
// and refresh README.md with
//
//	go test ./testscripts -run TestREADME -update
package testscripts
