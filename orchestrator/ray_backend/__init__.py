"""The ray backend: the same plans, game and agents on a Ray cluster (``pip install musical-chair[ray]``).

Each device is a Ray actor running the real agent (control over TCP as usual); TensorBatches between
devices go through Ray's object store. docs/ray.md tells how to run it on several machines.

Public API::

    RaySession(address=None, build_dir=, resources=)   .start() / .stop() / .totals()   (Ray started or joined)
    RayCluster(work_dir, devices, session, profile, cameras=, camera_specs=, names=, cpus=, max_in_flight=)
        a LocalCluster of device actors: .async_start_with_master(model, profile) / .kill(name) / .async_stop()
    RayDevice / DeviceOptions       the actor class (the agent inside) and what it starts with
    RayTransport(device, namespace, max_in_flight)   the agents' data_transport through the object store
    actor_resources(profile, devices, totals, cpus)  CPUs and memory per actor
    import_ray()                                     ray, or a UserError naming the extra to install
"""

from ._cluster import ActorResources, RayCluster, actor_resources, camera_resource
from ._device import DeviceOptions, RayDevice
from ._session import INSTALL_HINT, RaySession, import_ray, ray_temp_dir
from ._transport import DEFAULT_MAX_IN_FLIGHT, RayTransport, pack_batch, unpack_batch

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "INSTALL_HINT", "ActorResources", "DeviceOptions", "RayCluster", "RayDevice",
           "RaySession", "RayTransport", "actor_resources", "camera_resource", "import_ray", "pack_batch",
           "ray_temp_dir", "unpack_batch"]
