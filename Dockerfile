# The operator image: a static binary on a minimal base, run as a non-root user.
#   make docker-build IMG=ghcr.io/jitsi-operator/jitsi-operator:0.1.0
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w" -o /out/jitsi-operator .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jitsi-operator /jitsi-operator
USER 65532:65532
ENTRYPOINT ["/jitsi-operator"]
