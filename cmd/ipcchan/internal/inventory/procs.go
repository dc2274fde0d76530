package inventory

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A fileID is a file as the kernel knows it: its device and inode.
type fileID struct{ dev, ino uint64 }

// procUsers is what the processes of the machine have mapped or open, as
// far as this process may read their /proc/PID/maps and /proc/PID/fd.
type procUsers struct {
	byFile map[fileID][]int // the processes that map or have open each file
	hidden int              // processes whose maps or descriptors could not be read
}

// scanProcs reads /proc/PID/maps and /proc/PID/fd of every process: the
// files in /dev/shm they map (a creator maps the temporary file it built,
// which maps show under that name, deleted: files are matched by device
// and inode), and the files they hold open, queues among them (an mq
// descriptor links to its file in the mqueue filesystem). Without root,
// other users' processes are hidden; they are counted.
func scanProcs() procUsers {
	u := procUsers{byFile: map[fileID][]int{}}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		seen := map[fileID]bool{}
		add := func(id fileID) {
			if !seen[id] {
				seen[id] = true
				u.byFile[id] = append(u.byFile[id], pid)
			}
		}
		mapsOK := readMaps(pid, add)
		fdsOK := readFds(pid, add)
		if !mapsOK || !fdsOK {
			u.hidden++
		}
	}
	return u
}

// readMaps adds the files that process pid maps; it returns false if they
// could not be read for want of permission.
func readMaps(pid int, add func(fileID)) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) // exited meanwhile
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path; dev is "major:minor" in hex
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[4] == "0" {
			continue
		}
		major, minor, ok := strings.Cut(fields[3], ":")
		maj, err1 := strconv.ParseUint(major, 16, 32)
		min, err2 := strconv.ParseUint(minor, 16, 32)
		ino, err3 := strconv.ParseUint(fields[4], 10, 64)
		if ok && err1 == nil && err2 == nil && err3 == nil {
			add(fileID{unix.Mkdev(uint32(maj), uint32(min)), ino})
		}
	}
	return !errors.Is(sc.Err(), syscall.EACCES)
}

// readFds adds the files that process pid has open; it returns false if
// they could not be read for want of permission.
func readFds(pid int, add func(fileID)) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat(dir+fd.Name(), &st) == nil { // the file the descriptor is of
			add(fileID{st.Dev, st.Ino})
		}
	}
	return true
}
