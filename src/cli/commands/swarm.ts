import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { connectDocker } from '../../docker/client.ts';
import { UsageError } from '../../util/errors.ts';
import { engineName, initSwarm, joinToken, listSwarmNodes } from '../../swarm/cluster.ts';
import { nodeTable, unavailableNodes } from '../../swarm/nodes.ts';
import { SWARM_PORTS } from '../../swarm/errors.ts';

export function register(program: Command, runEnv: RunEnvironment): void {
  const swarm = program.command('swarm').description('create a Docker Swarm and list its nodes (the engine DOCKER_HOST points at)');
  swarm
    .command('init')
    .description('make this engine the first manager of a new swarm and print how nodes join it')
    .option('--advertise-addr <addr>', 'the address other nodes reach this one on (needed when it has several)')
    .option('--listen-addr <addr:port>', 'where the swarm listens', '0.0.0.0:2377')
    .option('--default-addr-pool <cidr...>', "CIDRs overlay networks are carved from (pick ranges your hosts' networks do not use)")
    .option('--subnet-size <bits>', 'prefix length of each overlay network', '24')
    .action(
      action(runEnv, async (ctx, opts: { advertiseAddr?: string; listenAddr: string; defaultAddrPool?: string[]; subnetSize: string }) => {
        const size = Number(opts.subnetSize);
        if (!Number.isInteger(size) || size < 8 || size > 29) throw new UsageError(`--subnet-size ${opts.subnetSize}: expected a prefix length from 8 to 29`);
        for (const c of opts.defaultAddrPool ?? []) {
          if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(c)) throw new UsageError(`--default-addr-pool ${c}: expected an IPv4 CIDR such as 10.20.0.0/16`);
        }
        const r = await initSwarm(connectDocker(ctx.env), engineName(ctx.env), {
          advertiseAddr: opts.advertiseAddr,
          listenAddr: opts.listenAddr,
          defaultAddrPool: opts.defaultAddrPool,
          subnetSize: size,
        });
        if (ctx.out.json) {
          ctx.out.data({ ok: true, nodeId: r.nodeId, managerAddr: r.managerAddr, join: { worker: r.workerJoin, manager: r.managerJoin } });
          return;
        }
        ctx.out.info(`swarm created; this engine is its manager (node ${r.nodeId.slice(0, 12)}, ${r.managerAddr})`);
        ctx.out.info('to add a worker, run on it:');
        ctx.out.out(`  ${r.workerJoin}`);
        ctx.out.info(`nodes must reach each other on ${SWARM_PORTS}; label them for placement: docker node update --label-add modelship.db=true NODE`);
      }),
    );
  swarm
    .command('join-token')
    .description('print the command that joins a node to this swarm (run on a manager)')
    .argument('[role]', 'worker or manager', 'worker')
    .option('-q, --quiet', 'print only the token')
    .action(
      action(runEnv, async (ctx, role: string, opts: { quiet?: boolean }) => {
        if (role !== 'worker' && role !== 'manager') throw new UsageError(`join-token ${role}: the role is worker or manager`);
        const t = await joinToken(connectDocker(ctx.env), engineName(ctx.env), role);
        if (ctx.out.json) ctx.out.data({ ok: true, ...t });
        else if (opts.quiet) ctx.out.out(t.token);
        else {
          ctx.out.info(`to add a ${role} to this swarm, run on it:`);
          ctx.out.out(`  ${t.command}`);
        }
      }),
    );
  swarm
    .command('nodes')
    .description("the swarm's nodes: role, state, address, labels, running tasks (run on a manager)")
    .action(
      action(runEnv, async (ctx) => {
        const rows = await listSwarmNodes(connectDocker(ctx.env), engineName(ctx.env));
        const down = unavailableNodes(rows);
        if (ctx.out.json) {
          ctx.out.data({ ok: true, nodes: rows, unavailable: down });
          return;
        }
        for (const l of nodeTable(rows)) ctx.out.out(l);
        for (const d of down) ctx.out.warn(`${d.hostname} takes no tasks (${d.reason})`);
      }),
    );
}
