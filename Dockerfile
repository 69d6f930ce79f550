# Release image of the control plane: the binary plus its site assets (pkg/), nothing else.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/* \
 && rustup target add wasm32-unknown-unknown \
 && npm install -g binaryen@132
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/src/target
RUN cargo install wasm-bindgen-cli --version "=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)" \
 && scripts/build-site --release \
 && cargo build --release --package zelly-control

FROM debian:bookworm-slim
# Runs need git (the infra repository's mirror), ssh for ssh:// remotes, and terraform.
ARG TERRAFORM_VERSION=1.11.4
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates git openssh-client curl unzip \
 && cd /tmp && base="https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}" \
 && curl -fsSLO "$base/terraform_${TERRAFORM_VERSION}_linux_amd64.zip" -fsSLO "$base/terraform_${TERRAFORM_VERSION}_SHA256SUMS" \
 && grep linux_amd64.zip "terraform_${TERRAFORM_VERSION}_SHA256SUMS" | sha256sum -c - \
 && unzip -q "terraform_${TERRAFORM_VERSION}_linux_amd64.zip" terraform -d /usr/local/bin && rm terraform_* && cd / \
 && apt-get purge -y curl unzip && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/zelly --create-home zelly
# The server looks for site/ next to its binary.
COPY --from=build /src/target/release/zelly-control /opt/zelly/zelly-control
COPY --from=build /src/target/site /opt/zelly/site
USER zelly
WORKDIR /var/lib/zelly
ENV ZELLY_DATA_DIR=/var/lib/zelly
ENTRYPOINT ["/opt/zelly/zelly-control"]
CMD ["serve"]
