package natsq_test

import (
	"os"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func TestMain(m *testing.M) {
	os.Exit(testutil.Main(m, ipcchan.UnlinkQueue))
}
