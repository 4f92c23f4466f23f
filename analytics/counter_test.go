package analytics

import (
	"fmt"
	"sync"
	"testing"
)

// drained sums what drains give, by key.
type drained map[Key]uint64

func (d drained) add(c Count) { d[c.Key] += c.Requests }

// TestCounter_ExactUnderConcurrentDrains checks that every count added
// while drains and rotations run is taken exactly once.
func TestCounter_ExactUnderConcurrentDrains(t *testing.T) {
	c := New(2000)
	const writers, perWriter, keys = 4, 20000, 300
	got := drained{}
	stop := make(chan struct{})
	var drains sync.WaitGroup
	drains.Add(1)
	go func() {
		defer drains.Done()
		for i := 0; ; i++ {
			c.Drain(i%7 == 0, got.add)
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := (i*7 + w) % keys
				c.Add(Redirect, fmt.Appendf(nil, "nar/%052d.nar", k), [2]byte{'D', 'E'}, 490000+int64(k%3))
			}
		}()
	}
	wg.Wait()
	close(stop)
	drains.Wait()
	c.Drain(false, got.add)
	c.Drain(true, got.add) // the retired table too

	want := drained{}
	for w := range writers {
		for i := range perWriter {
			k := (i*7 + w) % keys
			want.add(Count{Key: Key{Kind: Redirect, Key: fmt.Sprintf("nar/%052d.nar", k), Country: "DE", Hour: 490000 + int64(k%3)}, Requests: 1})
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d keys drained, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%+v: drained %v, want %v", k, got[k], v)
		}
	}
}

func TestCounter_OtherPastItsRoom(t *testing.T) {
	c := New(10)
	for i := range 50 {
		c.Add(Miss, fmt.Appendf(nil, "%032d", i), [2]byte{}, 1)
	}
	long := make([]byte, MaxKeyLen+1)
	c.Add(Hit, long, [2]byte{'S', 'G'}, 1)
	got := drained{}
	c.Drain(false, got.add)
	var misses, others uint64
	for k, v := range got {
		if k.Kind == Miss {
			misses += v
		}
		if k.Key == OtherKey {
			others += v
		}
	}
	if misses != 50 || others < 40 || others > 41 {
		t.Errorf("misses %d (want 50), of them under %q %d (want the 40 or so past 10 keys)", misses, OtherKey, others)
	}
	if v := got[Key{Kind: Hit, Key: OtherKey, Country: "SG", Hour: 1}]; v != 1 {
		t.Errorf("a key longer than %d bytes: %v, want one request under %q", MaxKeyLen, got, OtherKey)
	}
	// A rotation makes room again.
	c.Drain(true, got.add)
	c.Add(Miss, []byte("x"), [2]byte{}, 2)
	got = drained{}
	c.Drain(false, got.add)
	if v := got[Key{Kind: Miss, Key: "x", Hour: 2}]; v != 1 {
		t.Errorf("after a rotation: %v", got)
	}
}

// Counting a request allocates nothing, whether its key is new or not.
func TestCounter_AddAllocatesNothing(t *testing.T) {
	c := New(0)
	key := []byte("nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar.xz")
	c.Add(Redirect, key, [2]byte{'D', 'E'}, 1) // the first one of its kind and country
	i := 0
	keys := make([][]byte, 200)
	for j := range keys {
		keys[j] = fmt.Appendf(nil, "%032d", j)
	}
	if n := testing.AllocsPerRun(100, func() {
		c.Add(Redirect, key, [2]byte{'D', 'E'}, 1)
		c.Add(Hit, keys[i%len(keys)], [2]byte{'S', 'G'}, 1)
		i++
	}); n != 0 {
		t.Errorf("Add allocates %.1f times, want 0", n)
	}
}

func BenchmarkCounter_Add(b *testing.B) {
	c := New(0)
	keys := make([][]byte, 3000)
	for j := range keys {
		keys[j] = fmt.Appendf(nil, "%032d", j)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Add(Hit, keys[i%len(keys)], [2]byte{'D', 'E'}, 1)
			i++
		}
	})
}
