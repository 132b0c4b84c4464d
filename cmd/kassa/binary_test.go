package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests that need a real process (kill -9, a spawned server) run the
// kassa binary built once per test binary by kassaBinary, into binDir,
// which TestMain removes at the end.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// kassaBinary builds ./cmd/kassa with "go build" once and returns its path.
func kassaBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("go tool not found: %v", err)
			return
		}
		if binDir, binErr = os.MkdirTemp("", "kassa-test-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "kassa")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// createMerchantCLI runs "kassa merchant create --json" against dsn (which
// also migrates it) and returns the secret key.
func createMerchantCLI(t testing.TB, bin, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "merchant", "create", "--name", "Test merchant", "--json", "--db", dsn)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kassa merchant create: %v\n%s", err, stderr.String())
	}
	var creds struct {
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal(out, &creds); err != nil || !strings.HasPrefix(creds.SecretKey, "sk_test_") {
		t.Fatalf("kassa merchant create printed %q (%v)", out, err)
	}
	return creds.SecretKey
}

// kassaProcess is a "kassa serve" child process.
type kassaProcess struct {
	cmd     *exec.Cmd
	url     string
	exited  chan struct{}
	logPath string
}

// startKassa starts "kassa serve" on an ephemeral loopback port over dsn and
// waits until /healthz answers. The process is killed when the test ends if
// it is still running.
func startKassa(t testing.TB, bin, dsn string, extra ...string) *kassaProcess {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p := &kassaProcess{exited: make(chan struct{}), logPath: logf.Name()}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dsn}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "KASSA_BASE_URL=", "KASSA_ADDR=", "KASSA_LOG_LEVEL=info")
	p.cmd.Stderr = logf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start kassa serve: %v", err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Kassa listening on "); ok {
				addrc <- strings.Fields(rest)[0]
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case p.url = <-addrc:
	case <-p.exited:
		t.Fatalf("kassa serve exited at start:\n%s", p.log())
	case <-ctx.Done():
		t.Fatalf("kassa serve did not listen within 30s:\n%s", p.log())
	}
	if err := waitHealthy(ctx, p.url, p.exited); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	return p
}

func (p *kassaProcess) log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kill ends the server with SIGKILL, as a crash or an OOM kill would:
// no deferred function, no graceful shutdown, no final checkpoint.
func (p *kassaProcess) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-p.exited
}

// stop ends the server with SIGTERM and waits for a clean exit.
func (p *kassaProcess) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("kassa serve did not stop within 30s of SIGTERM:\n%s", p.log())
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("kassa serve exited with %v:\n%s", p.cmd.ProcessState, p.log())
	}
}
