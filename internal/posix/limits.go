package posix

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MqSysctlDir is where Linux publishes the message-queue limits.
const MqSysctlDir = "/proc/sys/fs/mqueue/"

// Hard ceilings of the kernel (HARD_MSGMAX, HARD_MSGSIZEMAX) that not even
// a privileged process can exceed.
const (
	HardMsgMax     = 65536
	HardMsgSizeMax = 16 * 1024 * 1024
)

// MqLimits are the message-queue limits of this machine's IPC namespace.
type MqLimits struct {
	MsgMax         int // msg_max: most messages an unprivileged creator may ask for
	MsgSizeMax     int // msgsize_max: largest message size it may ask for
	MsgDefault     int // msg_default: capacity when none is given
	MsgSizeDefault int // msgsize_default: message size when none is given
	QueuesMax      int // queues_max: queues allowed on the system
}

// ReadMqLimits reads the limits from /proc/sys/fs/mqueue. A value that
// cannot be read is left at the kernel's built-in default.
func ReadMqLimits() MqLimits {
	return MqLimits{
		MsgMax:         readSysctl("msg_max", 10),
		MsgSizeMax:     readSysctl("msgsize_max", 8192),
		MsgDefault:     readSysctl("msg_default", 10),
		MsgSizeDefault: readSysctl("msgsize_default", 8192),
		QueuesMax:      readSysctl("queues_max", 256),
	}
}

// ReadSysctl reads one value of /proc/sys/fs/mqueue, or returns def.
func ReadSysctl(file string, def int) int { return readSysctl(file, def) }

// readSysctl reads a small /proc file with three system calls (os.ReadFile
// takes twice as many, which showed in creating a queue).
func readSysctl(file string, def int) int {
	fd, err := unix.Open(MqSysctlDir+file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return def
	}
	defer unix.Close(fd)
	var buf [32]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return def
	}
	return v
}

// MqBytes is what a queue of the given shape charges against the creator's
// RLIMIT_MSGQUEUE, computed as the kernel does in mqueue_get_inode on
// 64-bit Linux (48-byte struct msg_msg and posix_msg_tree_node).
func MqBytes(maxMsg, msgSize int) int64 {
	tree := int64(maxMsg)*48 + int64(min(maxMsg, MqPrioMax))*48
	return int64(maxMsg)*int64(msgSize) + tree
}
