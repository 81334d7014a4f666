// A cron-style Go job on golang.org/x/oauth2 (Debian's package, GOPATH
// mode): each run is a new process that fetches one token with
// AuthStyleAutoDetect, which tries HTTP Basic first and falls back to the
// body. Prints the token type, or the error, and exits non-zero on error.
//
// usage: autodetect TOKEN_URL CLIENT_ID SECRET
package main

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func main() {
	conf := clientcredentials.Config{
		ClientID:     os.Args[2],
		ClientSecret: os.Args[3],
		TokenURL:     os.Args[1],
		Scopes:       []string{"read"},
		AuthStyle:    oauth2.AuthStyleAutoDetect,
	}
	token, err := conf.Token(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(token.TokenType)
}
