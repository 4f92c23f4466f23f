package replica

import (
	"fmt"
	"hash/maphash"
	"testing"
)

func TestHotCache_StaleReadIsNotStored(t *testing.T) {
	c := newHotCache(1 << 20)
	k := []byte("ggbqg8lqjwj75wznkv03h0x2bjr2in0j")
	_, gen, _ := c.get(k)
	c.invalidate([][]byte{k}) // a commit lands while the reader reads
	c.put(k, []byte("old"), gen)
	if b, _, ok := c.get(k); ok {
		t.Fatalf("stored %q read before an invalidation", b)
	}
	_, gen, _ = c.get(k)
	c.put(k, []byte("new"), gen)
	if b, _, _ := c.get(k); string(b) != "new" {
		t.Fatalf("cache has %q, want new", b)
	}
}

func TestHotCache_StaysWithinBudget(t *testing.T) {
	c := newHotCache(hotShards * 1000)
	for i := range 10000 {
		k := []byte(fmt.Sprintf("%032d", i))
		_, gen, _ := c.get(k)
		c.put(k, make([]byte, 100), gen)
	}
	for i := range c.shards {
		if s := &c.shards[i]; s.bytes > c.maxBytes {
			t.Fatalf("shard %d holds %d bytes, budget %d", i, s.bytes, c.maxBytes)
		}
	}
}

func TestPresence_NoFalseNegatives(t *testing.T) {
	p := newPresence(10000, maphash.MakeSeed())
	for i := range 10000 {
		p.add([]byte(fmt.Sprintf("%032d", i)))
	}
	falsePositives := 0
	for i := range 10000 {
		if !p.mayContain([]byte(fmt.Sprintf("%032d", i))) {
			t.Fatalf("added key %d reported absent", i)
		}
		if p.mayContain([]byte(fmt.Sprintf("x%031d", i))) {
			falsePositives++
		}
	}
	if falsePositives > 300 {
		t.Errorf("%d of 10000 absent keys reported present", falsePositives)
	}
}
