package posix

import (
	"fmt"
	"strings"
)

// NameMax is the longest file name the kernel accepts (NAME_MAX).
const NameMax = 255

// NameError reports a name that does not follow the POSIX rules for IPC
// object names.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid name %q: %s", e.Name, e.Reason)
}

// CheckName checks name against the POSIX rules shared by mq_open,
// sem_open and shm_open on Linux: one leading slash, then 1 to max bytes
// that contain no slash and no NUL, and are not "." or "..". max is the
// longest part after the slash that the object kind allows (NameMax for
// queues and shm; glibc's "sem." prefix leaves less for semaphores).
func CheckName(name string, max int) error {
	switch {
	case name == "":
		return &NameError{name, `it is empty; names look like "/jobs"`}
	case name[0] != '/':
		return &NameError{name, fmt.Sprintf("it must start with a slash, as in %q", "/"+strings.TrimLeft(name, "/"))}
	}
	rest := name[1:]
	switch {
	case rest == "":
		return &NameError{name, `a slash alone names nothing; names look like "/jobs"`}
	case strings.IndexByte(rest, '/') >= 0:
		return &NameError{name, "only the leading slash is allowed; use another character such as '-' or '.' inside the name"}
	case strings.IndexByte(rest, 0) >= 0:
		return &NameError{name, "it contains a NUL byte"}
	case rest == "." || rest == "..":
		return &NameError{name, `"." and ".." are not valid names`}
	case len(rest) > max:
		return &NameError{name, fmt.Sprintf("it has %d bytes after the slash; the limit is %d", len(rest), max)}
	}
	return nil
}
