// glupy's debug-trace in JavaScript, for six fops: prints a GLUPY TRACE line for each fop before
// winding it and for each reply before unwinding it. The lines are those of the built-in
// debug/trace translator, which does the same for every fop (use that one for real work).
import { Translator } from 'switchyard/storage';

const NULL_GFID = '00000000-0000-0000-0000-000000000000';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const S_IFMT = [0, 0o100000, 0o040000, 0o120000, 0o060000, 0o020000, 0o010000, 0o140000];
const pad = (n) => String(n).padStart(2, '0');
const oct = (n) => `0${n.toString(8)}`;

/** `[Mon DD HH:MM:SS]`, local time (glupy's strftime format). */
function stamp(seconds) {
  const d = new Date(seconds * 1000);
  return `[${MONTHS[d.getMonth()]} ${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}]`;
}

/** glupy's trace_stat2str, "uid =" and "gid =" spacing included. */
function stat2str(name, b) {
  if (!b) return `*${name}=null`;
  const mode = (S_IFMT[b.type] | (b.prot & 0o7777)).toString(8);
  return `*${name}=(gfid=${b.gfid}, ino=${b.ino}, mode=${mode}, nlink=${b.nlink}, uid =${b.uid}, gid =${b.gid}, size=${b.size}, ` +
    `blocks=${b.blocks}, atime=${stamp(b.atime)}, mtime=${stamp(b.mtime)}, ctime=${stamp(b.ctime)})`;
}

const locstr = (loc) => `gfid=${loc.gfid ?? loc.inode?.gfid ?? NULL_GFID}; path=${loc.path}`;
const fdstr = (fd) => `gfid=${fd.inode.gfid}; fd=${fd.id}`;
const xd = (xdata) => (xdata ? [`xdata={${Object.keys(xdata).join(',')}}`] : []);

export default class DebugTrace extends Translator {
  traceFop(frame, name, gfid, fields) {
    frame.local = gfid;
    console.log(`GLUPY TRACE ${name} FOP- ${frame.root.unique}: ${fields.join('; ')}`);
  }

  traceCbk(frame, name, opRet, opErrno, gfid, fields) {
    const u = frame.root.unique;
    if (opRet < 0) {
      const cbk = name === 'LOOKUP' ? 'CBK -' : 'CBK-'; // glupy's lookup line has the extra space
      console.log(`GLUPY TRACE ${name} ${cbk} ${u}: gfid=${frame.local}; op_ret=${opRet}; op_errno=${opErrno}`);
    } else {
      console.log(`GLUPY TRACE ${name} CBK- ${u}: ${[`gfid=${gfid ?? frame.local}`, `op_ret=${opRet}`, ...fields].join('; ')}`);
    }
  }

  lookupFop(frame, loc, xdata) {
    this.traceFop(frame, 'LOOKUP', loc.gfid ?? loc.inode?.gfid ?? NULL_GFID, [locstr(loc), ...xd(xdata)]);
    this.windLookup(frame, loc, xdata);
  }

  lookupCbk(frame, cookie, opRet, opErrno, inode, buf, xdata, postparent) {
    this.traceCbk(frame, 'LOOKUP', opRet, opErrno, inode?.gfid ?? buf?.gfid, [stat2str('buf', buf), ...xd(xdata), stat2str('postparent', postparent)]);
    this.unwindLookup(frame, opRet, opErrno, inode, buf, xdata, postparent);
  }

  createFop(frame, loc, flags, mode, umask, fd, xdata) {
    this.traceFop(frame, 'CREATE', loc.gfid ?? loc.inode?.gfid ?? NULL_GFID, [locstr(loc), `flags=${oct(flags)}`, `mode=${oct(mode)}`, `umask=${oct(umask)}`, `fd=${fd.id}`, ...xd(xdata)]);
    this.windCreate(frame, loc, flags, mode, umask, fd, xdata);
  }

  createCbk(frame, cookie, opRet, opErrno, fd, inode, buf, preparent, postparent, xdata) {
    const fields = [fd ? `fd=${fd.id}` : 'fd=null', stat2str('buf', buf), stat2str('preparent', preparent), stat2str('postparent', postparent), ...xd(xdata)];
    this.traceCbk(frame, 'CREATE', opRet, opErrno, inode?.gfid ?? buf?.gfid, fields);
    this.unwindCreate(frame, opRet, opErrno, fd, inode, buf, preparent, postparent, xdata);
  }

  mkdirFop(frame, loc, mode, umask, xdata) {
    this.traceFop(frame, 'MKDIR', loc.gfid ?? loc.inode?.gfid ?? NULL_GFID, [locstr(loc), `mode=${oct(mode)}`, `umask=${oct(umask)}`, ...xd(xdata)]);
    this.windMkdir(frame, loc, mode, umask, xdata);
  }

  mkdirCbk(frame, cookie, opRet, opErrno, inode, buf, preparent, postparent, xdata) {
    const fields = [stat2str('buf', buf), stat2str('preparent', preparent), stat2str('postparent', postparent), ...xd(xdata)];
    this.traceCbk(frame, 'MKDIR', opRet, opErrno, inode?.gfid ?? buf?.gfid, fields);
    this.unwindMkdir(frame, opRet, opErrno, inode, buf, preparent, postparent, xdata);
  }

  unlinkFop(frame, loc, xflags, xdata) {
    this.traceFop(frame, 'UNLINK', loc.gfid ?? loc.inode?.gfid ?? NULL_GFID, [locstr(loc), `xflags=${xflags}`, ...xd(xdata)]);
    this.windUnlink(frame, loc, xflags, xdata);
  }

  unlinkCbk(frame, cookie, opRet, opErrno, preparent, postparent, xdata) {
    this.traceCbk(frame, 'UNLINK', opRet, opErrno, undefined, [stat2str('preparent', preparent), stat2str('postparent', postparent), ...xd(xdata)]);
    this.unwindUnlink(frame, opRet, opErrno, preparent, postparent, xdata);
  }

  readvFop(frame, fd, size, offset, flags, xdata) {
    this.traceFop(frame, 'READV', fd.inode.gfid, [fdstr(fd), `size=${size}`, `offset=${offset}`, `flags=${oct(flags)}`, ...xd(xdata)]);
    this.windReadv(frame, fd, size, offset, flags, xdata);
  }

  readvCbk(frame, cookie, opRet, opErrno, data, stbuf, xdata) {
    this.traceCbk(frame, 'READV', opRet, opErrno, stbuf?.gfid, [data ? `size=${data.length}` : 'data=null', stat2str('stbuf', stbuf), ...xd(xdata)]);
    this.unwindReadv(frame, opRet, opErrno, data, stbuf, xdata);
  }

  writevFop(frame, fd, data, offset, flags, xdata) {
    this.traceFop(frame, 'WRITEV', fd.inode.gfid, [fdstr(fd), `size=${data.length}`, `offset=${offset}`, `flags=${oct(flags)}`, ...xd(xdata)]);
    this.windWritev(frame, fd, data, offset, flags, xdata);
  }

  writevCbk(frame, cookie, opRet, opErrno, prebuf, postbuf, xdata) {
    this.traceCbk(frame, 'WRITEV', opRet, opErrno, undefined, [stat2str('prebuf', prebuf), stat2str('postbuf', postbuf), ...xd(xdata)]);
    this.unwindWritev(frame, opRet, opErrno, prebuf, postbuf, xdata);
  }
}
