/**
 * The devices of the load tests: three senders (one account each) and one
 * recipient account with a device on every node, each device homed on its
 * node and failing over to the others. Accounts are registered and the
 * companions linked through node1 (linking across nodes has its own test),
 * then every device connects to its home node.
 */
import { FailoverDevice, linkSdkDevice, registerSdkDevice, type SdkDevice } from './sdk-devices.js';

/** The recipient account of the load tests. */
export const RECIPIENT = 'rcpt';

/** What a node-ish thing needs to offer: its id and URL list. */
export interface FleetNodes {
  /** Node ids, e.g. node1..node3. */
  readonly ids: readonly string[];
  /** Every node URL, `home` first. */
  urls(home: string): string[];
}

/** The started devices. */
export interface Fleet {
  readonly senders: FailoverDevice[];
  readonly receivers: FailoverDevice[];
  /** Stops every device (after() calls it). */
  stop(): Promise<void>;
}

/** Registers, links and starts the devices (see the module comment). */
export async function startFleet(nodes: FleetNodes, prefix: string): Promise<Fleet> {
  const [first] = nodes.ids;
  if (first === undefined) throw new Error('no nodes');
  const setupUrl = nodes.urls(first)[0] ?? '';
  const primary = await registerSdkDevice(setupUrl, RECIPIENT);
  const recipientDevices: SdkDevice[] = [primary];
  for (const id of nodes.ids.slice(1)) {
    recipientDevices.push(await linkSdkDevice(setupUrl, setupUrl, primary, `${RECIPIENT}-${id}`));
  }
  const receivers = recipientDevices.map((device, i) => {
    const home = nodes.ids[i] ?? first;
    return new FailoverDevice(`${RECIPIENT}@${home}`, device, nodes.urls(home));
  });
  const senders: FailoverDevice[] = [];
  for (const home of nodes.ids) {
    const account = `${prefix}${home.replace(/\D/g, '')}`;
    const device = await registerSdkDevice(setupUrl, account);
    senders.push(new FailoverDevice(`${account}@${home}`, device, nodes.urls(home)));
  }
  const all = [...receivers, ...senders];
  for (const device of all) device.start();
  await Promise.all(all.map((device) => device.client()));
  return {
    senders,
    receivers,
    stop: async () => {
      await Promise.all(all.map((device) => device.stop()));
    },
  };
}
