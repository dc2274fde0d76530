package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestLargeMessagesInTheTool: send --large carries a message beyond the
// queue's MsgSize; ls shows its file next to its queue, stat counts it,
// recv takes it whole, and rm takes the files of the messages left.
func TestLargeMessagesInTheTool(t *testing.T) {
	if testutil.InSandbox(t, testutil.OwnMqueueMount) { // ls lists the whole machine
		return
	}
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	// Its pool, of one block, is smaller than the messages: they travel
	// in files of their own.
	qh, err := ipcchan.OpenQueue[[]byte](q, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(64), ipcchan.LargeMessages(), ipcchan.PoolSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer qh.Close()
	big := strings.Repeat("large message ", 5000) // 70000 bytes
	if _, errs, code := run(t, "", "send", q, big); code == 0 || !strings.Contains(errs, "LargeMessages") {
		t.Fatalf("send without --large: status %d, %s; want a refusal naming LargeMessages", code, errs)
	}
	mustRun(t, "send", q, "--large", big, big)

	var all, files []inventory.Info
	if err := json.Unmarshal([]byte(mustRun(t, "ls", "--json")), &all); err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		if in.Kind == "large" && in.Name == q {
			files = append(files, in)
		}
	}
	if len(files) != 2 || files[0].MsgBytes != int64(len(big)) || files[0].State != "queued" {
		t.Fatalf("ls lists %d large messages of %s: %+v", len(files), q, files)
	}
	table := mustRun(t, "ls")
	if !strings.Contains(table, "2 large messages in ") || !strings.Contains(table, "message of 70000 bytes, queued, sent by") {
		t.Errorf("ls does not show the large messages with their queue:\n%s", table)
	}
	if st := mustRun(t, "stat", q); !strings.Contains(st, "large      2 messages in") {
		t.Errorf("stat does not count the large messages:\n%s", st)
	}
	if out := mustRun(t, "recv", q, "-n", "1"); !strings.Contains(out, big) {
		t.Errorf("recv printed %d bytes, not the large message", len(out))
	}
	mustRun(t, "rm", q) // a queue's large messages are not another object of that name
	for key, in := range lsJSON(t) {
		if in.Name == q {
			t.Errorf("after rm, ls still lists %s", key)
		}
	}
}
