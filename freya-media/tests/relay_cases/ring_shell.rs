// `spawn_relay` and `spawn_endpoint` for the shared relay body, served by the includer's
// `ring()` (relay_ring.rs: the default ring; relay_ring_small.rs: one buffer, plain
// descriptors).

    pub fn spawn_relay(
        pool: &freya_media::relay::SharedPortPool,
        config: freya_media::relay::ShellConfig,
        a: freya_media::relay::LegSetup,
        b: freya_media::relay::LegSetup,
    ) -> Result<
        (
            freya_media::relay::RelayHandle,
            freya_media::relay::RelayEvents,
        ),
        freya_media::relay::ShellError,
    > {
        ring().spawn_relay(pool, config, a, b)
    }

    pub fn spawn_endpoint(
        pool: &freya_media::relay::SharedPortPool,
        config: freya_media::relay::ShellConfig,
        a: freya_media::relay::LegSetup,
    ) -> Result<
        (
            freya_media::relay::RelayHandle,
            freya_media::relay::MediaEndpoint,
            freya_media::relay::RelayEvents,
        ),
        freya_media::relay::ShellError,
    > {
        ring().spawn_endpoint(pool, config, a)
    }
