/** Runs a command inside a container through the exec API: stdout streamed, stderr demuxed, exit code. */
import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';

export interface ExecResult {
  exitCode: number | null;
  stderr: string;
}

export interface ExecHandle {
  stdout: Readable;
  /** stderr as it arrives (also collected into the result). */
  stderr: Readable;
  /** Writable side for stdin, when `stdin: true`. Call `end()` to send EOF. */
  stdin: NodeJS.WritableStream | null;
  done: Promise<ExecResult>;
  /** Closes the exec connection: the engine closes the process's stdio (a writer then gets EPIPE). */
  close(): void;
}

export interface ExecOptions {
  env?: string[];
  user?: string;
  stdin?: boolean;
  /** stderr kept in the result (the tail, in bytes). */
  stderrLimit?: number;
}

export async function execInContainer(docker: Docker, containerId: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecHandle> {
  const container = docker.getContainer(containerId);
  const exec = await container.exec({
    Cmd: cmd,
    Env: opts.env ?? [],
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: opts.stdin === true,
    ...(opts.user ? { User: opts.user } : {}),
  });
  const stream = (await exec.start({ hijack: true, stdin: opts.stdin === true })) as NodeJS.ReadWriteStream & { destroy?: () => void };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const limit = opts.stderrLimit ?? 64 * 1024;
  let errText = '';
  stderr.on('data', (b: Buffer) => {
    errText += b.toString('utf8');
    if (errText.length > limit) errText = errText.slice(-limit);
  });
  const done = new Promise<ExecResult>((resolve, reject) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      stdout.end();
      stderr.end();
      exec
        .inspect()
        .then((info) => resolve({ exitCode: info.ExitCode ?? null, stderr: errText }))
        .catch(reject);
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', (err: Error) => {
      stdout.destroy(err);
      reject(err);
    });
  });
  return { stdout, stderr, stdin: opts.stdin === true ? stream : null, done, close: () => stream.destroy?.() };
}
