package narinfo_test

import (
	"fmt"
	"log"

	"github.com/narthex-cache/narthex/narinfo"
)

func ExampleParse() {
	body := []byte("StorePath: /nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt\n" +
		"URL: nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar\n" +
		"Compression: none\n" +
		"NarHash: sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=\n" +
		"NarSize: 120\n" +
		"References: \n")
	n, err := narinfo.Parse(body, narinfo.NixStoreDir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.Hash, n.Name)
	fmt.Println(n.Fingerprint(narinfo.NixStoreDir))

	sk, pk, err := narinfo.GenerateKey("cache.example.org-1")
	if err != nil {
		log.Fatal(err)
	}
	signed := narinfo.AppendSig(body, sk.Sign(n.Fingerprint(narinfo.NixStoreDir)))
	n, err = narinfo.Parse(signed, narinfo.NixStoreDir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(narinfo.CheckSig(n.Fingerprint(narinfo.NixStoreDir), n.Sigs[0], []narinfo.PublicKey{pk}))
	// Output:
	// 5klx9pxl1c90q0j01ph753cpfm5dz3as hello.txt
	// 1;/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt;sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h;120;
	// valid
}
