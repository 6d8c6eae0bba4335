// Durable Task Scheduler backend (durableBackend = 'DurableTaskScheduler'): a scheduler and the task
// hub named as host.json's hubName. The app identity's role on it is in roleAssignments.bicep.
param location string
param tags object
param name string
param taskHubName string
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string

var skus = {
  Consumption: {
    name: 'Consumption'
  }
  Dedicated: {
    name: 'Dedicated'
    capacity: 1
  }
}

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: skus[skuName]
    // Required, and an empty list denies everything. The app reaches the scheduler from Flex
    // Consumption's shared outbound addresses (no virtual network here); access is Entra ID RBAC.
    ipAllowlist: [
      '0.0.0.0/0'
    ]
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

output name string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
