import { DeviceSpec } from '../services/provisioning/src/model.js';
async function main() {
  for (const e of ['http://127.0.0.1:15000/quitquitquit','http://[::1]:15020/x','http://169.254.169.254/x','http://localhost:4041/x','http://0/','http://orion/x','http://orion.fiware.svc.cluster.local:1026/','http://orion.fiware.svc:1026','http://2130706433/','http://device.example:9000/cmd','https://plc7.factory.example.com/cmd'])
    console.log(e, DeviceSpec.safeParse({device_id:'a',entity_name:'x',entity_type:'T',endpoint:e}).success);
}
main();
